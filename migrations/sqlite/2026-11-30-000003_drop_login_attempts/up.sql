-- Pending sign-ins now travel in a sealed, short-lived cookie (login/attempt.rs), so anonymous
-- GET /auth/login requests write nothing. Those still in flight at upgrade start again.
DROP TABLE login_attempts;
