"""Storage: tenant-isolated object storage, bytes straight to S3 through presigned URLs, metadata in Postgres."""
