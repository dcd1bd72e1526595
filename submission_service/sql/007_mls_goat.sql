-- MLS-GOAT's clients. A model's requested batch size is recorded (the scorer runs the task's own, so every team's
-- timings are measured alike). `status_key` lets the submitter poll the anonymous status route: only it received the
-- key, and submission ids, being a sequence, could be enumerated.
ALTER TABLE submissions ADD COLUMN requested_batch_size integer;
ALTER TABLE submissions ADD COLUMN status_key text;
