from django.db import migrations

# Search moves out of the hot leads table (issue 17 item 4, issue 22 regression): the pg_trgm GIN
# index on leads_lead (0010) was rewritten by every non-HOT lead UPDATE, so a rescore of 100k
# leads took 1.6x as long. The search text now lives in leads_leadsearchdocument, one narrow row
# per lead, written by triggers only when a searchable field (or a note) changes. A score UPDATE
# names none of those columns, so the row trigger does not even fire.
#
# PostgreSQL only; SQLite keeps the table empty and leads.search scans the lead columns.
# docs/operations.md ("Search documents") says how to check and rebuild them.

# The document: " first last email company domain job title notes", lower-cased, with a leading
# space so one- or two-character words can match word starts ("% zq%"); empty once erased.
FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION leads_search_refresh(ids bigint[]) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO leads_leadsearchdocument AS d (lead_id, document, search_vector)
  SELECT s.id, s.document,
         CASE WHEN s.erased THEN ''::tsvector ELSE
           setweight(to_tsvector('simple', s.person), 'A')
           || setweight(to_tsvector('simple', s.org), 'B')
           || setweight(to_tsvector('simple', coalesce(s.notes, '')), 'D') END
  FROM (
    SELECT l.id, l.erased_at IS NOT NULL AS erased,
           lower(concat_ws(' ', l.first_name, l.last_name, l.email)) AS person,
           lower(concat_ws(' ', l.company, l.domain, l.job_title)) AS org,
           lower(n.notes) AS notes,
           CASE WHEN l.erased_at IS NOT NULL THEN '' ELSE
             lower(' ' || concat_ws(' ', nullif(l.first_name, ''), nullif(l.last_name, ''),
                   l.email, nullif(l.company, ''), nullif(l.domain, ''),
                   nullif(l.job_title, ''), n.notes)) END AS document
    FROM leads_lead l
    LEFT JOIN LATERAL (
      SELECT string_agg(body, ' ' ORDER BY id) AS notes FROM leads_note WHERE lead_id = l.id
    ) n ON true
    WHERE l.id = ANY(ids)
  ) s
  ON CONFLICT (lead_id) DO UPDATE
    SET document = EXCLUDED.document, search_vector = EXCLUDED.search_vector
    WHERE d.document IS DISTINCT FROM EXCLUDED.document
$$;

CREATE OR REPLACE FUNCTION leads_search_leads_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM leads_search_refresh(ARRAY(SELECT id FROM inserted_leads));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION leads_search_lead_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM leads_search_refresh(ARRAY[NEW.id]);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION leads_search_note_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM leads_search_refresh(ARRAY[NEW.lead_id]);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM leads_search_refresh(ARRAY[OLD.lead_id]);
  ELSE
    PERFORM leads_search_refresh(ARRAY[OLD.lead_id, NEW.lead_id]);
  END IF;
  RETURN NULL;
END $$;
"""

SEARCHED = ("first_name", "last_name", "email", "company", "domain", "job_title", "erased_at")
CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in SEARCHED)

TRIGGERS = f"""
-- one statement-level trigger per INSERT (COPY included): one set-based refresh per chunk
CREATE TRIGGER lead_search_insert AFTER INSERT ON leads_lead
  REFERENCING NEW TABLE AS inserted_leads
  FOR EACH STATEMENT EXECUTE FUNCTION leads_search_leads_inserted();
-- fires only for an UPDATE that names a searchable column, and only where it changed
CREATE TRIGGER lead_search_update AFTER UPDATE OF {", ".join(SEARCHED)} ON leads_lead
  FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION leads_search_lead_updated();
CREATE TRIGGER note_search_change AFTER INSERT OR DELETE OR UPDATE OF body, lead_id ON leads_note
  FOR EACH ROW EXECUTE FUNCTION leads_search_note_changed();
"""

DROP = """
DROP TRIGGER IF EXISTS lead_search_insert ON leads_lead;
DROP TRIGGER IF EXISTS lead_search_update ON leads_lead;
DROP TRIGGER IF EXISTS note_search_change ON leads_note;
DROP FUNCTION IF EXISTS leads_search_leads_inserted();
DROP FUNCTION IF EXISTS leads_search_lead_updated();
DROP FUNCTION IF EXISTS leads_search_note_changed();
DROP FUNCTION IF EXISTS leads_search_refresh(bigint[]);
"""

BACKFILL_BATCH = 50_000


def create_search_documents(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.execute
    # the database deletes a lead's document with the lead (raw DELETEs and merges included)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f'"
            " AND conrelid = 'leads_leadsearchdocument'::regclass"
        )
        (fk,) = cursor.fetchone()
    execute(
        f"ALTER TABLE leads_leadsearchdocument DROP CONSTRAINT {fk},"
        f" ADD CONSTRAINT {fk} FOREIGN KEY (lead_id) REFERENCES leads_lead (id)"
        " ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
    )
    execute(FUNCTIONS)
    # triggers first, then the backfill: a lead written meanwhile is upserted by its trigger,
    # and the backfill's own upsert only rewrites documents that differ
    execute(TRIGGERS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM leads_lead")
        (top,) = cursor.fetchone()
    for start in range(0, top + 1, BACKFILL_BATCH):
        execute(
            "SELECT leads_search_refresh(ARRAY(SELECT id FROM leads_lead"
            f" WHERE id BETWEEN {start} AND {start + BACKFILL_BATCH - 1}))"
        )
    # indexes after the load (faster than maintaining them row by row), without blocking writes
    execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_search_doc_trgm_idx"
        " ON leads_leadsearchdocument USING gin (document gin_trgm_ops)"
    )
    execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_search_doc_fts_idx"
        " ON leads_leadsearchdocument USING gin (search_vector)"
    )
    execute("ANALYZE leads_leadsearchdocument")
    # the regression: no search index on the leads table any more
    execute("DROP INDEX CONCURRENTLY IF EXISTS lead_search_trgm_idx")


def drop_search_documents(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP)
    schema_editor.execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_search_trgm_idx ON leads_lead USING gin"
        " (upper((' ' || first_name || ' ' || last_name || ' ' || company || ' ' || domain)::text)"
        " gin_trgm_ops)"
    )


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("leads", "0012_lead_search_document"),
    ]

    operations = [
        migrations.RunPython(create_search_documents, drop_search_documents),
    ]
