-- The relay is now woken after the append commits, by the writer (`ProductStore` sends
-- `NOTIFY catalog_events` on its own, outside the writing transaction), not by a trigger inside
-- it. A transaction that has issued NOTIFY takes a database-wide lock at commit and holds it
-- through its WAL flush, so every appending transaction committed one after another and group
-- commit never happened: on the benchmark machine, one INSERT per transaction fell from about
-- 9,600 to 3,600 per second with a NOTIFY beside it. Events inserted by hand are still found by
-- the relay's poll (`RELAY_POLL_INTERVAL_MS`).
DROP TRIGGER events_appended ON events;
DROP FUNCTION notify_events_appended();
