-- The app inventory: what the organisation expects, matched to the apps
-- seen in every org by consumer key (when known) or by name.
CREATE TABLE inventory (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    consumer_key     text,
    owner_team       text,
    business_purpose text,
    expected_users   integer CHECK (expected_users >= 0),
    criticality      text CHECK (criticality IN ('low', 'medium', 'high', 'critical')),
    status           text NOT NULL DEFAULT 'under_review' CHECK (status IN ('approved', 'under_review', 'not_approved')),
    vendor_url       text CHECK (vendor_url IS NULL OR vendor_url ~ '^https?://'),
    notes            text,
    updated_by       text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX inventory_name ON inventory (lower(name));
CREATE UNIQUE INDEX inventory_consumer_key ON inventory (consumer_key) WHERE consumer_key IS NOT NULL;

-- Reviews: the monthly look at what changed, and the quarterly audit of
-- stale authorizations. Items are fixed when the review starts.
CREATE TABLE reviews (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('monthly', 'quarterly')),
    since          timestamptz,
    stale_days     integer,
    started_by     text NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    completed_by   text,
    completed_at   timestamptz
);
CREATE INDEX reviews_kind ON reviews (kind, started_at DESC);

CREATE TABLE review_items (
    review_id    bigint NOT NULL REFERENCES reviews ON DELETE CASCADE,
    seq          integer NOT NULL,
    category     text NOT NULL,
    org_id       uuid NOT NULL REFERENCES orgs ON DELETE CASCADE,
    app_key      text,
    user_id      text,
    token_id     text,
    summary      text NOT NULL,
    detail       jsonb NOT NULL DEFAULT '{}',
    decision     text CHECK (decision IN ('accepted', 'keep', 'revoke', 'sent_to_action')),
    note         text,
    decided_by   text,
    decided_at   timestamptz,
    action_id    bigint REFERENCES actions ON DELETE SET NULL,
    PRIMARY KEY (review_id, seq)
);
