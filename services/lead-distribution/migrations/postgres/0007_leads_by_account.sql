-- ListLeads by account_id: the converted lead and the renewal leads of one
-- billing account, without a scan of every lead.
CREATE INDEX leads_account ON leads (account_id) WHERE account_id IS NOT NULL;
