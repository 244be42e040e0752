-- Placeholder for a migration another branch owns (fleet work took 015): the lead
-- deletes this file when the real 012 lands, so the numbers stay without gaps.
SELECT 1;
