-- A task may take artifact ids from its dependencies' outputs: each binding
-- names an input field, a dependency and a key of that dependency's output.
-- They are filled in when the dependencies have succeeded.
alter table tasks add column bindings jsonb;
