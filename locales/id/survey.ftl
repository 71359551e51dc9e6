survey-rating = Seberapa puas Anda dengan layanan kami? Balas dengan angka 1 (sangat tidak puas) sampai 5 (sangat puas).
survey-rating-invalid = Mohon balas dengan satu angka dari 1 sampai 5.
survey-want-comment = Ingin menulis saran atau komentar?
survey-comment = Silakan tulis saran atau komentar Anda.
survey-thanks = Terima kasih atas penilaian Anda. Ini membantu layanan menjadi lebih baik.
