-- `import_skus` is a running job's scratch list (which line named each master SKU first), and
-- a job's rows are now removed when it ends (store/src/imports.rs, `finish`), with the rows of
-- jobs that ended before this release removed below. Its reference to `imports` protected
-- nothing (only the job's own worker writes its rows) and was checked on every row inserted:
-- 256 lookups of the same job row per chunk, measured at nearly two thirds of the insert's
-- cost (docs/PERFORMANCE.md, row 8).
ALTER TABLE import_skus DROP CONSTRAINT IF EXISTS import_skus_import_id_fkey;

DELETE FROM import_skus s
 WHERE NOT EXISTS (SELECT 1 FROM imports i WHERE i.import_id = s.import_id AND i.status = 'running');
