"""The cluster commands' world (ClusterEnv) and the admins' lock."""
