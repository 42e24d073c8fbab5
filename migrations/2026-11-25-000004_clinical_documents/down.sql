DROP TABLE gateway.document_keys;
DROP TABLE gateway.documents;
