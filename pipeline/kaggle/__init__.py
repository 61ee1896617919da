"""Everything that talks to Kaggle: credentials (auth), the client made safe (client), error messages (errors),
downloads and submissions (io), the local submission records (records) and notebooks (kernels)."""
