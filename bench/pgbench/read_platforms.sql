-- Figure 11c: the online count per platform.
SELECT os, online_users, online_sessions FROM presence.platforms;
