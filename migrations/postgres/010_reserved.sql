-- Placeholder for migration 010, which another branch brings (issue 16 work in parallel):
-- delete this file when that branch is merged.
SELECT 1;
