-- query-api's facet index (`read_model::facet_index`) follows `product_view` by the transaction
-- that last wrote each row: it re-reads the rows written at or after the oldest transaction
-- still running at its previous catch-up, through this column's index.
--
-- Added without a default first, so that the existing rows are not rewritten (they stay NULL:
-- the index reads them when it loads the whole view). Then every later insert is stamped by
-- the default and every update by the trigger: whoever writes the row, the stamp cannot be
-- forgotten.
ALTER TABLE read_model_3.product_view ADD COLUMN written xid8;
ALTER TABLE read_model_3.product_view ALTER COLUMN written SET DEFAULT pg_current_xact_id();

CREATE FUNCTION read_model_3.product_view_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.written := pg_current_xact_id();
    RETURN NEW;
END
$$;

CREATE TRIGGER product_view_written BEFORE UPDATE ON read_model_3.product_view
    FOR EACH ROW EXECUTE FUNCTION read_model_3.product_view_written();

CREATE INDEX product_view_written_idx ON read_model_3.product_view (written);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM read_model_generations WHERE generation = 3 AND state = 'live') THEN
        CREATE OR REPLACE VIEW read_model.product_view AS SELECT * FROM read_model_3.product_view;
    END IF;
END
$$;
