-- submission_service's schema, created and recorded by the migrations runner; its tables arrive with its issue.
-- Written without a schema name: the runner sets search_path to the service's schema.
DO $$
BEGIN
    EXECUTE format('COMMENT ON SCHEMA %I IS %L', current_schema(), 'Podium submission_service: submissions, uploads, quotas');
END
$$;
