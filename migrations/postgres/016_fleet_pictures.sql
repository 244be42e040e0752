-- Several processes on one PostgreSQL (issue 17): a 'picture' claim names the process
-- drawing a segment's picture (renewed while it waits and draws; one that ran out is
-- taken over by a sweeping process), a 'draft' claim the one writing a part in advance.
ALTER TABLE fleet_claims DROP CONSTRAINT fleet_claims_kind_check;
ALTER TABLE fleet_claims ADD CONSTRAINT fleet_claims_kind_check
    CHECK (kind IN ('write', 'vote', 'retry', 'picture', 'draft'));
-- The sweep looks for pictures still wanted: keep it to the few rows waiting or drawing.
CREATE INDEX segments_pictures_wanted ON segments (id) WHERE image_state IN ('queued', 'drawing');
