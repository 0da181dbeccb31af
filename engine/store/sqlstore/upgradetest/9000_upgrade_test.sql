-- Built only into binaries compiled with -tags gatehouse_upgradetest: the "next
-- release" of the rolling-upgrade test (interop/upgrade_test.go), one additive change
-- on a table every sign-in reads, as a real release's migration would be.
ALTER TABLE users ADD COLUMN upgrade_test_note TEXT;
CREATE TABLE upgrade_test_marks (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL);
