-- A review item about an app keeps the app's inventory status as it was when
-- the review started, so the evidence shows what the reviewer saw, not
-- today's status. 'none': the app was not in the inventory. NULL: not an
-- item about an app, or a review started before this was recorded.
ALTER TABLE review_items ADD COLUMN inventory_at_start text;
