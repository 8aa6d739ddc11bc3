-- The picture and its thumbnail move to a table of their own, so listing a
-- patient's photos (10,000 of them) reads only the small rows: in `media`
-- the columns after a BLOB sit behind its overflow pages. It also lets
-- retention purge a photo's bytes while its record and audit trail stay.
CREATE TABLE media_content (
    media_id    TEXT PRIMARY KEY REFERENCES media (id),
    bytes       BLOB NOT NULL,      -- the sanitised file
    thumbnail   BLOB                -- JPEG; NULL when unavailable (e.g. HEIC)
);

INSERT INTO media_content (media_id, bytes, thumbnail) SELECT id, bytes, thumbnail FROM media;

ALTER TABLE media ADD COLUMN has_thumbnail INTEGER NOT NULL DEFAULT 0;
UPDATE media SET has_thumbnail = thumbnail IS NOT NULL;
ALTER TABLE media DROP COLUMN bytes;
ALTER TABLE media DROP COLUMN thumbnail;
