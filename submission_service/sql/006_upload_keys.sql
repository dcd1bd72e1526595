-- A presigned URL writes `upload_key`; `complete` copies the object to `object_key` (which no URL can write),
-- checks the copy and removes the upload. Once an upload's URL has expired, whatever sits at its key is swept.
ALTER TABLE submissions ADD COLUMN upload_key text;
UPDATE submissions SET upload_key = object_key;
-- Uploads still open keep their URL's key; they get a final key of their own.
UPDATE submissions SET object_key = 'accepted/' || object_key WHERE status = 'awaiting_upload';
ALTER TABLE submissions ALTER COLUMN upload_key SET NOT NULL;
ALTER TABLE submissions ADD COLUMN upload_swept boolean NOT NULL DEFAULT false;
UPDATE submissions SET upload_swept = true WHERE upload_key = object_key;
CREATE INDEX submissions_unswept_uploads ON submissions (upload_expires_at) WHERE NOT upload_swept;
