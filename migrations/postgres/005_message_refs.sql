-- The platform messages that show a segment, typed, in their own table (they were
-- adapter-made strings such as "d123", "t45", "c45", "p46" in segments.messages).
CREATE TABLE message_refs (
    segment_id  BIGINT  NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    platform    TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'picture', 'photo_reply')),
    message_id  BIGINT  NOT NULL,
    PRIMARY KEY (segment_id, position)
);

INSERT INTO message_refs (segment_id, position, platform, kind, message_id)
SELECT segments.id, refs.ordinality - 1, sessions.platform,
       CASE substr(text_value.value, 1, 1)
           WHEN 'c' THEN 'picture'
           WHEN 'p' THEN 'photo_reply'
           ELSE 'text'
       END,
       CAST(substr(text_value.value, 2) AS BIGINT)
FROM segments
JOIN sessions ON sessions.id = segments.session_id,
     jsonb_array_elements(segments.messages::jsonb) WITH ORDINALITY AS refs (item, ordinality),
     LATERAL (SELECT refs.item #>> '{}' AS value) AS text_value
WHERE jsonb_typeof(refs.item) = 'string' AND substr(text_value.value, 2) ~ '^[0-9]+$';

ALTER TABLE segments DROP COLUMN messages;
