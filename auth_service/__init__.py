"""Teams, admins, passwords and tokens; Q&A. Owns schema `auth`."""
