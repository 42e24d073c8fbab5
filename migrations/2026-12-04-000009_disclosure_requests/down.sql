ALTER TABLE gateway.disclosures DROP COLUMN request;
