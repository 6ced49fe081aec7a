"""The poll stage: fetch feeds politely and safely, parse them in separate processes, publish new articles."""
