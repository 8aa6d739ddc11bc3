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
    SELECT lower(hex(randomblob(16))), min(organisation) FROM teams GROUP BY lower(organisation);
UPDATE teams SET organisation =
    (SELECT o.name FROM organisations o WHERE lower(o.name) = lower(teams.organisation));

-- SQLite cannot add a foreign key to an existing table: triggers keep it.
CREATE TRIGGER teams_organisation_exists_insert BEFORE INSERT ON teams
    WHEN NOT EXISTS (SELECT 1 FROM organisations WHERE name = NEW.organisation)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: no such organisation'); END;
CREATE TRIGGER teams_organisation_exists_update BEFORE UPDATE OF organisation ON teams
    WHEN NOT EXISTS (SELECT 1 FROM organisations WHERE name = NEW.organisation)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: no such organisation'); END;
CREATE TRIGGER organisations_in_use BEFORE DELETE ON organisations
    WHEN EXISTS (SELECT 1 FROM teams WHERE organisation = OLD.name)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: organisation in use'); END;
