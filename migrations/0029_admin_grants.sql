-- Who holds an administrator's rights in each org (Modify All Data, View
-- All Data or Customize Application), through their profile or a
-- permission set, as the last sync read them from PermissionSetAssignment.
-- A sync replaces an org's rows in one transaction once it has read them
-- all; a sync that could not read them leaves the previous ones.
CREATE TABLE sf_admin_grants (
    org_id                uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    user_id               text NOT NULL,
    permission_set_id     text NOT NULL,
    -- The set's label; a profile's own set is labelled with the profile.
    label                 text NOT NULL,
    via_profile           boolean NOT NULL,
    modify_all_data       boolean NOT NULL,
    view_all_data         boolean NOT NULL,
    customize_application boolean NOT NULL,
    PRIMARY KEY (org_id, user_id, permission_set_id)
);

ALTER TABLE orgs ADD COLUMN admin_grants_read_at timestamptz;

-- Per app, how many people holding a live authorization have an
-- administrator's rights (System Administrator profile, or a grant above),
-- counted after each sync: "Where is this app?" reads it for every org at
-- once, which counting live over millions of authorizations cannot do fast.
CREATE TABLE app_admin_holders (
    org_id  uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key text COLLATE "C" NOT NULL,
    admins  bigint NOT NULL CHECK (admins >= 0),
    PRIMARY KEY (org_id, app_key)
);
