"""One module per dataset. Each knows how to fetch and parse its Azure answers; none touches the DB."""
