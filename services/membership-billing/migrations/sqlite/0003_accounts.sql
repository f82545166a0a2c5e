-- Member accounts: free members ("users") and, once they have paid, customers.
CREATE TABLE accounts (
    account_id        TEXT        PRIMARY KEY,
    company_name      TEXT        NOT NULL,
    contact_name      TEXT        NOT NULL,
    phone             TEXT        NOT NULL,
    email             TEXT        NOT NULL DEFAULT '',
    city              TEXT        NOT NULL,
    time_zone         TEXT        NOT NULL,
    lead_id           TEXT,
    sold_by_person_id TEXT,
    contact_person_id TEXT        NOT NULL UNIQUE,
    first_paid_at     TEXT,
    created_at        TEXT NOT NULL
) STRICT;
-- One account per converted lead (LeadConverted is applied once).
CREATE UNIQUE INDEX accounts_one_per_lead ON accounts (lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX accounts_sold_by ON accounts (sold_by_person_id);
