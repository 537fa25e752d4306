// the browser client (placeholder until the web work lands)
