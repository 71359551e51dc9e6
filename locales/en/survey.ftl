survey-rating = How satisfied are you with our service? Reply with a number from 1 (very unsatisfied) to 5 (very satisfied).
survey-rating-invalid = Please reply with one number from 1 to 5.
survey-want-comment = Would you like to write a suggestion or comment?
survey-comment = Please write your suggestion or comment.
survey-thanks = Thank you for your rating. It helps the service get better.
