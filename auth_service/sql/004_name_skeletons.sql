-- Look-alike names (Unicode TR39 confusables: Cyrillic `а` for Latin `a`, fullwidth forms, …): two keys per account
-- (see auth_service/names.py), each unique among live accounts, so a look-alike is refused by an index lookup.
-- SQL cannot compute them (ICU's skeleton): auth_service writes them with every new name and, for the rows that
-- predate this migration (or were keyed by another ICU version), at its start, before it serves.
ALTER TABLE accounts ADD COLUMN name_skeleton text;
ALTER TABLE accounts ADD COLUMN name_folded_skeleton text;
CREATE UNIQUE INDEX accounts_name_skeleton_live ON accounts (name_skeleton) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX accounts_name_folded_skeleton_live ON accounts (name_folded_skeleton) WHERE deleted_at IS NULL;
