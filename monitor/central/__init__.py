"""The central station over MQTT: topics and message checks, the broker connection, the bedside
publisher, the station's subscriber and store, and the site key that signs commands."""
