-- What an armed send refers to on the platform (a Threads or Instagram container id), stored
-- before the content-creating request leaves, so an unknown outcome can be looked up by it.
ALTER TABLE post_profiles ADD COLUMN sending_ref TEXT;
