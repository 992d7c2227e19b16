-- The autonomous system of each address range, from a table the operator
-- loads (`oauth-cockpit asn load`, the free iptoasn.com format): the app
-- page names the network each app calls from. Loading replaces it whole.
CREATE TABLE ip_asn (
    range_start  inet NOT NULL,
    range_end    inet NOT NULL,
    asn          bigint NOT NULL CHECK (asn >= 0),
    country      text CHECK (length(country) <= 8),
    name         text CHECK (length(name) <= 255)
);
CREATE INDEX ip_asn_start ON ip_asn (range_start);
