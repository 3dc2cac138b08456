"""Data: the annotation schema, the synthetic corpus, pre-decoded video records and the grain input pipeline."""
