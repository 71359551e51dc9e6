-- Who took a case, decided by one conditional update so two accepts can never both win.
ALTER TABLE cases ADD COLUMN accepted_by TEXT;
ALTER TABLE cases ADD COLUMN accepted_at INTEGER;
