"""Reading and writing RFC 5322 mail: parsing, MIME, templates. No store."""
