//! sfsim: a Salesforce org simulator that speaks the real wire protocol.
