//! The cockpit's client for the Salesforce APIs.
