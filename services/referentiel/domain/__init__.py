"""Pure rules of the référentiel: access levels, qualification, holder history, relèves, search and consultation."""
