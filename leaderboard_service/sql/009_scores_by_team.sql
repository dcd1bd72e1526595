-- A team's change (its name, its standing, its deletion) republishes only the boards it is on: the tasks it has
-- scores in, found through this index rather than by recomputing every task's board.
CREATE INDEX scores_by_team ON scores (team_id, task_id);
