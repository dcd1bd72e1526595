-- A standing decision keeps the values it set, next to its revision and in the same row: a decision that changes one
-- flag ("hide", "disqualify --undo") keeps the other as the previous decision left it, read and written in one
-- statement (no race with the projection, which applies decisions later). Existing rows take the projection's values.
ALTER TABLE decision_revisions ADD COLUMN state jsonb;

UPDATE decision_revisions AS d SET state = jsonb_build_object('hidden', t.hidden, 'disqualified', t.disqualified)
FROM teams AS t WHERE d.decision = 'standing:' || t.team_id;
