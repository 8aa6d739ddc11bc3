-- Organisations as entities: a name (unique whatever its case) and an
-- optional NHS ODS code. A team's `organisation` names one; existing teams'
-- organisations are created from their names (case variants merged).
CREATE TABLE organisations (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    ods_code TEXT UNIQUE
);
CREATE UNIQUE INDEX organisations_name_any_case ON organisations (lower(name));

INSERT INTO organisations (id, name)
    SELECT md5(random()::text || clock_timestamp()::text || min(organisation)), min(organisation)
    FROM teams GROUP BY lower(organisation);
UPDATE teams SET organisation =
    (SELECT o.name FROM organisations o WHERE lower(o.name) = lower(teams.organisation));

ALTER TABLE teams ADD CONSTRAINT teams_organisation_fkey
    FOREIGN KEY (organisation) REFERENCES organisations (name);
