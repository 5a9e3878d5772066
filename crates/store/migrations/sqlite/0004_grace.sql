-- A grace deadline for enrolling after activation, and which of its reminders (7 days, 1 day before) went out.
ALTER TABLE accounts ADD COLUMN enroll_by BIGINT;
ALTER TABLE accounts ADD COLUMN reminders_sent BIGINT NOT NULL DEFAULT 0;
