DROP TABLE ingest.batch_trees;
