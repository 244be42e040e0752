-- The platform messages that show a segment, typed, in their own table (they were
-- adapter-made strings such as "d123", "t45", "c45", "p46" in segments.messages).
CREATE TABLE message_refs (
    segment_id  INTEGER NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    platform    TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'picture', 'photo_reply')),
    message_id  INTEGER NOT NULL,
    PRIMARY KEY (segment_id, position)
);

INSERT INTO message_refs (segment_id, position, platform, kind, message_id)
SELECT segments.id, refs.key, sessions.platform,
       CASE substr(refs.value, 1, 1)
           WHEN 'c' THEN 'picture'
           WHEN 'p' THEN 'photo_reply'
           ELSE 'text'
       END,
       CAST(substr(refs.value, 2) AS INTEGER)
FROM segments
JOIN sessions ON sessions.id = segments.session_id,
     json_each(segments.messages) AS refs
WHERE refs.type = 'text' AND substr(refs.value, 2) GLOB '[0-9]*';

ALTER TABLE segments DROP COLUMN messages;
