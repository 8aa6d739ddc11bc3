-- A team may take files only up to a size (bytes); NULL: the server's limit.
ALTER TABLE teams ADD COLUMN max_file_bytes INTEGER;
