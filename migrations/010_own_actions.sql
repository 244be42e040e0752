-- Actions players typed for a part (issue 15): their texts are appended to `choices`,
-- so the ballot, the vote and the decision treat them as any choice; this JSON list
-- names who typed which ([{"choice_index", "user_id", "user_name"}]), so a restart keeps
-- the ballot with its authors and the narrator knows which choice to quote.
ALTER TABLE segments ADD COLUMN own_actions TEXT NOT NULL DEFAULT '[]';
