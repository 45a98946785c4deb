-- When each housekeeping task last ran (the bucket sweeps are costly: they run at their own interval).
CREATE TABLE housekeeping_runs (
    task text PRIMARY KEY,
    last_run timestamptz NOT NULL
);
