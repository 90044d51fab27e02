"""The triggers that keep ``leads_leadrank`` (leads.models.LeadRank) equal to each lead's stage
and score, whichever path writes the lead: ORM, COPY, a set-based UPDATE, a merge.

PostgreSQL: one statement-level trigger per INSERT and per UPDATE, each reading the statement's
rows as a transition table, so a rescore of 10,000 leads costs one set-based write of the rank
rows, not 10,000 trigger calls; the rank row goes with its lead by ON DELETE CASCADE.

SQLite has no transition tables: row triggers, and one more for deletes. Django rebuilds a
SQLite table (and drops its triggers) for some schema changes, so ``install_sqlite`` runs after
every ``migrate`` (leads.apps) as well as in migration 0018: it is idempotent and repairs rows a
missing trigger let drift.
"""

from typing import Any

PG_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION leads_rank_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO leads_leadrank AS r (lead_id, stage, score)
  SELECT id, stage, score FROM inserted_leads
  ON CONFLICT (lead_id) DO UPDATE SET stage = EXCLUDED.stage, score = EXCLUDED.score;
  RETURN NULL;
END $$;

-- EXECUTE: planned for each statement's own row count, not a cached generic plan. The id
-- array lets the planner read just the statement's rank rows from the primary key: on the join
-- alone it hashed the whole rank table for 10,000 leads (191 ms against 144 ms at 100k leads)
CREATE OR REPLACE FUNCTION leads_rank_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'UPDATE leads_leadrank r SET stage = n.stage, score = n.score
           FROM updated_leads n
           WHERE r.lead_id = ANY(ARRAY(SELECT id FROM updated_leads)) AND r.lead_id = n.id
             AND (r.stage, r.score) IS DISTINCT FROM (n.stage, n.score)';
  RETURN NULL;
END $$;
"""

# no column list: PostgreSQL allows transition tables only on triggers without one
PG_TRIGGERS = """
CREATE TRIGGER lead_rank_insert AFTER INSERT ON leads_lead
  REFERENCING NEW TABLE AS inserted_leads
  FOR EACH STATEMENT EXECUTE FUNCTION leads_rank_inserted();
CREATE TRIGGER lead_rank_update AFTER UPDATE ON leads_lead
  REFERENCING NEW TABLE AS updated_leads
  FOR EACH STATEMENT EXECUTE FUNCTION leads_rank_updated();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS lead_rank_insert ON leads_lead;
DROP TRIGGER IF EXISTS lead_rank_update ON leads_lead;
DROP FUNCTION IF EXISTS leads_rank_inserted();
DROP FUNCTION IF EXISTS leads_rank_updated();
"""

SQLITE_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS lead_rank_insert AFTER INSERT ON leads_lead BEGIN
      INSERT OR REPLACE INTO leads_leadrank (lead_id, stage, score)
      VALUES (NEW.id, NEW.stage, NEW.score);
    END""",
    """CREATE TRIGGER IF NOT EXISTS lead_rank_update AFTER UPDATE OF stage, score ON leads_lead
    WHEN OLD.stage IS NOT NEW.stage OR OLD.score IS NOT NEW.score BEGIN
      UPDATE leads_leadrank SET stage = NEW.stage, score = NEW.score WHERE lead_id = NEW.id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS lead_rank_delete BEFORE DELETE ON leads_lead BEGIN
      DELETE FROM leads_leadrank WHERE lead_id = OLD.id;
    END""",
)

SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS lead_rank_insert",
    "DROP TRIGGER IF EXISTS lead_rank_update",
    "DROP TRIGGER IF EXISTS lead_rank_delete",
)

# rows missing or differing, in id ranges (one statement over 3M leads would hold its locks and
# memory for the whole table)
FILL = """
INSERT INTO leads_leadrank AS r (lead_id, stage, score)
SELECT id, stage, score FROM leads_lead WHERE id BETWEEN %s AND %s
ON CONFLICT (lead_id) DO UPDATE SET stage = EXCLUDED.stage, score = EXCLUDED.score
WHERE (r.stage, r.score) IS DISTINCT FROM (EXCLUDED.stage, EXCLUDED.score)
"""
FILL_BATCH = 50_000


def fill(cursor: Any) -> None:
    """Write the rank row of every lead that lacks one or whose row differs."""
    cursor.execute("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM leads_lead")
    low, top = cursor.fetchone()
    for start in range(low, top + 1, FILL_BATCH):
        cursor.execute(FILL, [start, start + FILL_BATCH - 1])


def installed_sqlite(cursor: Any) -> set[str]:
    """Names of the rank triggers SQLite has on leads_lead."""
    cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'leads_lead'"
        " AND name LIKE 'lead_rank_%'"
    )
    return {row[0] for row in cursor.fetchall()}


def install_sqlite(cursor: Any) -> None:
    """(Re)create SQLite's triggers and repair the rows; a no-op when all three are there."""
    if len(installed_sqlite(cursor)) == len(SQLITE_TRIGGERS):
        return
    for statement in SQLITE_TRIGGERS:
        cursor.execute(statement)
    fill(cursor)
    cursor.execute("DELETE FROM leads_leadrank WHERE lead_id NOT IN (SELECT id FROM leads_lead)")
